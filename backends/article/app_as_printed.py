# The listing exactly as the article prints it (kept to show in notebook 02 why it cannot run).
from flask import Flask, request
import sys

PORT_NUMBER = sys.argv[1]

app = Flask(__name__)

def index():
	return "Hi!! from server %s" % PORT_NUMBER

if __name__ == '__main__':

#Run the server in command line as follows:-
# python app.py <Unused port number>
#eg. python app.py 8080

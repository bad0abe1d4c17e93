# The article's app.py with only the missing `app.run` call added: it starts, but has no page at "/".
from flask import Flask, request
import sys

PORT_NUMBER = sys.argv[1]

app = Flask(__name__)

def index():
	return "Hi!! from server %s" % PORT_NUMBER

if __name__ == '__main__':
    app.run(port=int(PORT_NUMBER))
#Run the server in command line as follows:-
# python app.py <Unused port number>
#eg. python app.py 8080

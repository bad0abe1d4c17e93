"""Activity 1, the DNS lab: a local DNS server (``server``) and the queries a student sends (``client``)."""
from .client import (DigResult, LabResolver, LabSites, Spread, Visit, dig, dig_live, dig_repeat,
                     loopback_aliases_work, real_dig, spread, start_lab_servers, visit)
from .server import CONTINENTS, LAB_ADDRESSES, DNSServer, stop_all_dns

__all__ = ["CONTINENTS", "LAB_ADDRESSES", "DNSServer", "stop_all_dns", "DigResult",
           "LabResolver", "LabSites", "Spread", "Visit", "dig", "dig_live",
           "dig_repeat", "loopback_aliases_work", "real_dig", "spread", "start_lab_servers", "visit"]

"""Salesforce-looking record ids: 15 case-sensitive characters plus the 3-character suffix.

An id is the object's key prefix (003 for Contact), a 2-character pod ("5g"), a
reserved "0" and the record number in base 62 (9 characters); the 18-character form
adds Salesforce's checksum: for each 5-character chunk, a bit per uppercase letter,
read as an index into A-Z0-5.
"""

from __future__ import annotations

import functools
import hashlib
import re

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
PAIRS = [a + b for a in BASE62 for b in BASE62]  # base-62 digit pairs, 00 .. zz
UPPER_AS_BITS = str.maketrans({c: "1" if c.isupper() else "0" for c in BASE62})

KEY_PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Opportunity": "006",
    "Lead": "00Q",
    "Task": "00T",
    "Event": "00U",
    "CampaignMember": "00v",
    "Case": "500",
    "Campaign": "701",
    "Product2": "01t",
    "Organization": "00D",
}
STANDARD_OBJECTS = frozenset(KEY_PREFIXES) | {
    "Asset",
    "Contract",
    "Order",
    "OrderItem",
    "OpportunityLineItem",
    "Pricebook2",
    "PricebookEntry",
    "Quote",
    "Note",
    "Attachment",
}
CUSTOM_OBJECT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*__c$")
SF_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")


def is_known_object(sobject: str, listed: frozenset[str] | set[str]) -> bool:
    """An object exists if the rules list it, it is a standard object, or it is custom (__c)."""
    return sobject in listed or sobject in STANDARD_OBJECTS or bool(CUSTOM_OBJECT.match(sobject))


def key_prefix(sobject: str) -> str:
    """Standard objects use Salesforce's prefix; others get a stable 'a..' prefix from a hash."""
    if sobject in KEY_PREFIXES:
        return KEY_PREFIXES[sobject]
    digest = int.from_bytes(hashlib.sha256(sobject.encode()).digest()[:4], "big")
    return "a" + BASE62[digest % 62] + BASE62[(digest // 62) % 62]


def make_id(sobject: str, number: int) -> str:
    """The 18-character id of record `number` of `sobject`."""
    number, last = divmod(number, 62)
    number, p4 = divmod(number, 3844)
    number, p3 = divmod(number, 3844)
    p1, p2 = divmod(number % 3844**2, 3844)
    short = _prefix(sobject) + PAIRS[p1] + PAIRS[p2] + PAIRS[p3] + PAIRS[p4] + BASE62[last]
    return short + checksum(short)


def checksum(short_id: str) -> str:
    """Salesforce's 3-character suffix: per 5-character chunk, bit i set if char i is upper."""
    bits = short_id.translate(UPPER_AS_BITS)  # e.g. "0010000000..." ; bit 0 is the first char
    return (
        SUFFIX[int(bits[4::-1], 2)] + SUFFIX[int(bits[9:4:-1], 2)] + SUFFIX[int(bits[14:9:-1], 2)]
    )


@functools.cache
def _prefix(sobject: str) -> str:
    return key_prefix(sobject) + "5g0"

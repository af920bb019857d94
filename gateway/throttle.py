"""Failed-login throttling that stops guessing without handing out lock-outs (issue 9 item 4).

Counters of *failed* logins, kept by Flask-Limiter's strategy and storage (Redis):

==========================  ======================  ===========================================
key                         setting                 stops
==========================  ======================  ===========================================
client address              ``login_limit``         one address trying many accounts (auth.py)
(account, client network)   ``network_login_limit`` one network guessing one account
account, from anywhere      ``account_login_limit`` many networks: past it, *under attack*
==========================  ======================  ===========================================

An attempt is refused (429) only when *its* network has used up its
allowance for that account: ``network_login_limit`` normally, and
``UNDER_ATTACK_ALLOWANCE`` failures while the account is under attack. A
network with no recent failures is never refused, so the real person still
logs in from home while others guess; a guesser with many networks gets a
few tries from each. Before the password is checked the attempt waits
``delay_for`` (``gevent.sleep``: the node's loop goes on): nothing on a clean
record, 0.25 s doubling with each failure from that network, and the cap
(``login_delay_max``) for every attempt while the account is under attack.

Failures are counted after the password check, so simultaneous guesses from
one network can pass the check together: the overshoot is bounded by their
concurrency, which the per-address limit bounds in turn.

Account names are normalised for the keys (NFKC, casefold, strip): ``BOB``,
`` bob `` and fullwidth ``ｂｏｂ`` are one account here. Networks are IPv4
/24 and IPv6 /64 (what one subscriber or one office usually holds).
"""

from __future__ import annotations

import ipaddress
import time
import unicodedata
from dataclasses import dataclass

from limits import parse
from limits.strategies import RateLimiter

UNDER_ATTACK_ALLOWANCE = 3
DELAY_BASE = 0.25
ACCOUNT_KEY_MAX = 128


def normalise_account(name: str) -> str:
    """The throttling key of a typed account name (not the name itself: lookups stay exact)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name or "").casefold())
    return folded.strip()[:ACCOUNT_KEY_MAX]


def client_network(ip: str) -> str:
    """The client's network: IPv4 /24, IPv6 /64 (an IPv4-mapped address counts as IPv4)."""
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def delay_for(failures: int, *, under_attack: bool, cap: float) -> float:
    """Seconds to wait before checking a password, from this network's recent failures."""
    if under_attack:
        return cap
    if failures <= 0:
        return 0
    return min(cap, DELAY_BASE * 2 ** (failures - 1))


@dataclass(frozen=True)
class Verdict:
    refused: bool
    delay: float
    retry_after: int = 0   # seconds, when refused


@dataclass(frozen=True)
class Trip:
    """A limit just reached: worth one audit event (not one per refused try)."""

    account: str
    network: str
    detail: str


@dataclass(frozen=True)
class Attack:
    """An account someone has been guessing at, as admins see it."""

    account: str
    last: float
    failed_logins: int
    networks: int
    under_attack: bool


class LoginThrottle:
    """The counters of one gateway (``prefix`` scopes its keys) on Flask-Limiter's ``strategy``."""

    def __init__(self, strategy: RateLimiter, redis, prefix: str, *, network_limit: str, account_limit: str,
                 delay_max: float):
        self.strategy, self.redis, self.prefix = strategy, redis, prefix
        self.network_item, self.account_item = parse(network_limit), parse(account_limit)
        self.delay_max = delay_max

    def _net_key(self, account: str, network: str) -> tuple[str, ...]:
        return (self.prefix, "login-net", account, network)

    def _account_key(self, account: str) -> tuple[str, ...]:
        return (self.prefix, "login-account", account)

    def _state(self, account: str, network: str) -> tuple[int, bool, float]:
        """(failures from this network, account under attack, when the network's count resets)."""
        net = self.strategy.get_window_stats(self.network_item, *self._net_key(account, network))
        acct = self.strategy.get_window_stats(self.account_item, *self._account_key(account))
        return self.network_item.amount - net.remaining, acct.remaining <= 0, net.reset_time

    def _allowance(self, under_attack: bool) -> int:
        return min(UNDER_ATTACK_ALLOWANCE, self.network_item.amount) if under_attack else self.network_item.amount

    def check(self, name: str, ip: str) -> Verdict:
        account, network = normalise_account(name), client_network(ip)
        failures, under_attack, reset = self._state(account, network)
        if failures >= self._allowance(under_attack):
            return Verdict(True, 0, max(1, int(reset - time.time()) + 1))
        return Verdict(False, delay_for(failures, under_attack=under_attack, cap=self.delay_max))

    def failed(self, name: str, ip: str) -> list[Trip]:
        """Count a failed login; the limits it made trip, if any."""
        account, network = normalise_account(name), client_network(ip)
        before, was_under, _reset = self._state(account, network)
        self.strategy.hit(self.network_item, *self._net_key(account, network))
        self.strategy.hit(self.account_item, *self._account_key(account))
        now = time.time()
        window = self.account_item.get_expiry()
        nets, count = self.prefix + "login-nets:" + account, self.prefix + "login-fails:" + account
        # For admins: which networks failed lately, and how often (the limiter's counters stop at
        # their limit). SET NX then INCR keeps the first failure's expiry (Redis 6 has no EXPIRE NX).
        with self.redis.pipeline() as pipe:
            pipe.zadd(nets, {network: now})
            pipe.zremrangebyscore(nets, "-inf", now - window)
            pipe.expire(nets, window)
            pipe.set(count, 0, ex=window, nx=True)
            pipe.incr(count)
            pipe.execute()
        trips = []
        under = was_under or not self.strategy.test(self.account_item, *self._account_key(account))
        if before + 1 == self._allowance(under):
            trips.append(Trip(account, network, f"{before + 1} failed logins from {network}: "
                                                f"that network may not try this account for a while"))
        if under and not was_under:
            trips.append(Trip(account, network, f"account under attack: {self.account_item.amount} failed "
                                                f"logins within {_window(self.account_item)}; networks with "
                                                f"failures get {UNDER_ATTACK_ALLOWANCE} tries"))
        if trips:
            self.redis.zadd(self.prefix + "login-attacks", {account: now})
        return trips

    def accounts_under_attack(self, names) -> set[str]:
        """Those of ``names`` (user names) whose normalised account has a tripped limit lately."""
        window = max(self.account_item.get_expiry(), self.network_item.get_expiry())
        listed = {m.decode() if isinstance(m, bytes) else m for m in self.redis.zrangebyscore(
            self.prefix + "login-attacks", time.time() - window, "+inf")}
        return {n for n in names if normalise_account(n) in listed}

    def attacks(self) -> list[Attack]:
        """Accounts with a tripped limit in the last account window, most recent first."""
        key = self.prefix + "login-attacks"
        now = time.time()
        window = max(self.account_item.get_expiry(), self.network_item.get_expiry())
        self.redis.zremrangebyscore(key, "-inf", now - window)
        out = []
        for raw, last in self.redis.zrevrange(key, 0, 99, withscores=True):
            account = raw.decode() if isinstance(raw, bytes) else raw
            stats = self.strategy.get_window_stats(self.account_item, *self._account_key(account))
            networks = self.redis.zcount(self.prefix + "login-nets:" + account,
                                         now - self.account_item.get_expiry(), "+inf")
            failed = int(self.redis.get(self.prefix + "login-fails:" + account) or 0)
            out.append(Attack(account, last, failed, networks, stats.remaining <= 0))
        return out


def _window(item) -> str:
    seconds = item.get_expiry()
    return f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds // 60} min"

"""A real OpenLDAP ``slapd`` (Debian's package) with a small company directory, for the LDAP tests.

The test's own server: a ``slapd.conf`` and an mdb database in a temp folder, loaded
with ``slapadd`` before the start, listening on two free loopback ports (``ldap://``
for StartTLS, ``ldaps://``) with a self-signed certificate (``selfsigned.py``) for ``localhost`` and
``127.0.0.1``, run in the foreground (``-d 0``) and stopped by PID.

The directory (``dc=example,dc=org``): the service account ``cn=ponte-svc``; people
``alice`` (groups sales and staff), ``bob`` (staff), ``carol`` (disabled: her entry has
``employeeType: disabled``, what ``DISABLED_FILTER`` matches) and two ``dup`` entries
that one filter cannot tell apart.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import free_port, stop_process, wait_for
from .selfsigned import write_self_signed

BASE = "dc=example,dc=org"
SERVICE_DN = f"cn=ponte-svc,{BASE}"
SERVICE_PASSWORD = "svc-secret-1"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"
DISABLED_FILTER = "(employeeType=disabled)"
PASSWORDS = {"alice": "alice-pass-1", "bob": "bob-pass-12", "carol": "carol-pass-1"}
MODULES = "/usr/lib/ldap"

CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath {modules}
moduleload back_mdb
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
TLSCertificateFile {dir}/cert.pem
TLSCertificateKeyFile {dir}/key.pem
TLSCACertificateFile {dir}/cert.pem
database mdb
suffix "{base}"
rootdn "cn=admin,{base}"
rootpw admin-secret-1
directory {dir}/db
maxsize 16777216
access to attrs=userPassword by self read by anonymous auth by * none
access to * by users read by * none
"""


def _person(uid: str, cn: str, extra: str = "") -> str:
    password = PASSWORDS.get(uid, "dup-pass-123")
    return (f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {cn}\nsn: {cn.split()[-1]}\n"
            f"mail: {uid}@example.org\nuserPassword: {password}\n{extra}\n")


def _directory() -> str:
    parts = [
        f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n",
        f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: ponte-svc\nuserPassword: {SERVICE_PASSWORD}\n\n",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n\n",
        _person("alice", "Alice Archer", "displayName: Alice A.\n"),
        _person("bob", "Bob Baker"),
        _person("carol", "Carol Cook", "employeeType: disabled\n"),
        _person("dup", "Dup One").replace(f"uid=dup,{PEOPLE}", f"cn=Dup One,{PEOPLE}"),
        _person("dup", "Dup Two"),
    ]
    for name, members in (("sales", ["alice"]), ("staff", ["alice", "bob", "carol"])):
        # groupOfNames needs a member: the placeholder lets a test take every person out.
        lines = f"member: cn=placeholder,{BASE}\n" + "".join(f"member: uid={m},{PEOPLE}\n" for m in members)
        parts.append(f"dn: cn={name},{GROUPS}\nobjectClass: groupOfNames\ncn: {name}\n{lines}\n")
    return "".join(parts)


@dataclass
class Slapd:
    dir: Path
    port: int          # ldap:// (StartTLS)
    tls_port: int      # ldaps://
    proc: subprocess.Popen

    @property
    def ca_file(self) -> str:
        return str(self.dir / "cert.pem")

    def settings(self, *, ldaps: bool = False, **changes) -> dict:
        """Gateway settings for this directory (StartTLS unless ``ldaps``)."""
        values = {
            "ldap_url": f"ldaps://localhost:{self.tls_port}" if ldaps else f"ldap://localhost:{self.port}",
            "ldap_starttls": not ldaps, "ldap_ca_file": self.ca_file,
            "ldap_bind_dn": SERVICE_DN, "ldap_bind_password": SERVICE_PASSWORD,
            "ldap_user_base": PEOPLE, "ldap_group_base": GROUPS,
            "ldap_disabled_filter": DISABLED_FILTER, "ldap_timeout": 5.0,
            "ldap_group_map": (f"cn=sales,{GROUPS} => sales-team", "staff => everyone"),
        }
        values.update(changes)
        return values

    @classmethod
    def start(cls, directory: Path) -> Slapd:
        slapd = shutil.which("slapd") or "/usr/sbin/slapd"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "db").mkdir()
        write_self_signed(directory / "cert.pem", directory / "key.pem")
        conf = directory / "slapd.conf"
        conf.write_text(CONF.format(dir=directory, base=BASE, modules=MODULES))
        (directory / "directory.ldif").write_text(_directory())
        subprocess.run([shutil.which("slapadd") or "/usr/sbin/slapadd", "-f", str(conf), "-l",
                        str(directory / "directory.ldif")], check=True, capture_output=True)
        port, tls_port = free_port(), free_port()
        log = open(directory / "slapd.log", "wb")
        proc = subprocess.Popen([slapd, "-d", "0", "-f", str(conf),
                                 "-h", f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/"],
                                stdout=log, stderr=log)
        server = cls(directory, port, tls_port, proc)
        wait_for(server._answers, timeout=15, interval=0.1, what="slapd answering")
        return server

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"slapd exited: {(self.dir / 'slapd.log').read_text(errors='replace')[-2000:]}")
        res = subprocess.run(["ldapwhoami", "-x", "-H", f"ldap://127.0.0.1:{self.port}", "-D", SERVICE_DN,
                              "-w", SERVICE_PASSWORD], capture_output=True, timeout=5)
        return res.returncode == 0

    def stop(self) -> None:
        stop_process(self.proc)

"""Device profiles of the lab: who each emulated device is and which services it runs.

Profiles are plain data. `default_lab()` builds the standard set (Hikvision cameras and NVR, an
unactivated old-firmware camera, an OEM rebrand, Dahua and a CP PLUS OEM, and negatives), an
optional hostile set, or N devices mixed from the standard ones for benchmarks.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field, replace

# Services a device may run (the ports are the devices' real ones).
SADP = "sadp"  # UDP 37020, multicast 239.255.255.250
WSD = "wsd"  # UDP 3702, multicast 239.255.255.250
DHIP = "dhip"  # UDP 37810, multicast 239.255.255.251
HTTP = "http"  # TCP 80, with /onvif/device_service when the device has "onvif"
ONVIF = "onvif"  # SOAP on the HTTP port
RTSP = "rtsp"  # TCP 554
SDK8000 = "sdk8000"  # TCP 8000 (Hikvision SDK / control port)
DAHUA37777 = "dahua37777"  # TCP 37777 (Dahua private protocol; accepts and stays silent)
WSDAPI = "wsdapi"  # TCP 5357 (Windows WSD HTTP endpoint)

PORTS = {
    SADP: 37020,
    WSD: 3702,
    DHIP: 37810,
    HTTP: 80,
    RTSP: 554,
    SDK8000: 8000,
    DAHUA37777: 37777,
    WSDAPI: 5357,
}

# Hostile behaviours (the hardening issue).
XML_BOMB = "xml_bomb"  # billion laughs over SADP, WS-Discovery and ONVIF
XXE = "xxe"  # external entity over SADP, WS-Discovery and ONVIF
ENDLESS_BODY = "endless_body"  # HTTP body that never ends
SLOWLORIS = "slowloris"  # HTTP reply at one byte a second
HUGE_RTSP_HEADER = "huge_rtsp_header"  # RTSP reply header of several MB
SADP_FLOOD = "sadp_flood"  # answers one SADP inquiry 1000 times
HOSTILE = frozenset({XML_BOMB, XXE, ENDLESS_BODY, SLOWLORIS, HUGE_RTSP_HEADER, SADP_FLOOD})

# Audit behaviours (`hikscan audit` against the lab; Digest-protected read endpoints).
UNAUTHORIZED_FOREVER = "unauthorized_forever"  # answers 401 with a fresh challenge to every request
ENDLESS_XML = "endless_xml"  # authenticated reads get an XML body that never ends
AUDIT_BEHAVIOURS = frozenset({UNAUTHORIZED_FOREVER, ENDLESS_XML})
LAB_USER = "auditor"
LAB_PASSWORD = "Lab-Audit-Pass-2026!"  # the lab's own account; not a real device's


@dataclass(frozen=True)
class AuditSettings:
    """What an emulated device is configured to do, served over ISAPI / Dahua CGI / ONVIF reads.

    `username`/`password`: the one account the device accepts (HTTP Digest and WS-UsernameToken).
    `lock_after`: failed logins before the account locks (0: never), `lock_seconds` how long.
    """

    username: str = LAB_USER
    password: str = LAB_PASSWORD
    cloud_enabled: bool = False
    cloud_registered: bool = False
    cloud_server: str = "litedev.hik-connect.com"
    time_mode: str = "NTP"
    ntp_servers: tuple[str, ...] = ("time.windows.com",)
    dns: tuple[str, ...] = ("8.8.8.8", "114.114.114.114")
    ddns_enabled: bool = False
    ddns_provider: str = "HiDDNS"
    ddns_server: str = "www.hik-online.com"
    upnp_enabled: bool = False
    upnp_mappings: tuple[tuple[str, str, str], ...] = ()  # (service/internal port, external port, protocol)
    users: tuple[tuple[str, str], ...] = (("admin", "Administrator"), (LAB_USER, "Operator"))
    lock_after: int = 0
    lock_seconds: int = 1800
    behaviour: str = ""

    def __post_init__(self) -> None:
        if self.behaviour and self.behaviour not in AUDIT_BEHAVIOURS:
            raise ValueError(f"unknown audit behaviour {self.behaviour!r}")


# Kinds decide which response family a device speaks.
KINDS = frozenset({"hikvision", "hikvision-oem", "dahua", "dahua-oem", "axis", "nginx", "windows"})

_HIK = frozenset({SADP, WSD, HTTP, ONVIF, RTSP, SDK8000})
_DAHUA = frozenset({WSD, DHIP, HTTP, ONVIF, RTSP, DAHUA37777})


@dataclass(frozen=True)
class DeviceProfile:
    """One emulated device. `vendor` is the brand it shows; `kind` the firmware family it speaks."""

    name: str
    ip: str
    mac: str  # aa:bb:cc:dd:ee:ff
    kind: str
    vendor: str
    model: str
    serial: str
    firmware: str
    services: frozenset[str]
    activated: bool = True
    cloud: bool = False  # SADP HCPlatformEnable (Hik-Connect switched on)
    onvif_auth: bool = True  # GetDeviceInformation needs credentials (answers a SOAP fault)
    device_type: str = ""  # SADP DeviceType code
    scopes: tuple[str, ...] = ()  # WS-Discovery scopes; built from the kind when empty
    http_server: str = ""  # HTTP Server header; from the kind when empty
    realm: str = ""  # HTTP/RTSP digest realm; from the kind when empty
    hostile: frozenset[str] = field(default_factory=frozenset)
    audit: AuditSettings | None = None  # Digest-protected read endpoints for `hikscan audit`

    def __post_init__(self) -> None:
        ipaddress.IPv4Address(self.ip)
        if self.kind not in KINDS:
            raise ValueError(f"unknown device kind {self.kind!r}")
        if not self.hostile <= HOSTILE:
            raise ValueError(f"unknown hostile behaviour {sorted(self.hostile - HOSTILE)}")
        if len(self.mac.split(":")) != 6:
            raise ValueError(f"MAC must be aa:bb:cc:dd:ee:ff, not {self.mac!r}")

    @property
    def endpoint_uuid(self) -> str:
        """WS-Discovery endpoint: Hikvision's end in the MAC (as real ones do); others are stable hashes."""
        if self.kind.startswith("hikvision"):
            return "urn:uuid:aa85c000-6324-11b3-819e-" + self.mac.replace(":", "")
        h = hashlib.sha1(f"{self.name}/{self.serial}".encode()).hexdigest()
        return f"uuid:{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


# What the audit finds on the standard devices (lab values, not a real device's configuration).
_CLOUD_REGISTERED = AuditSettings(cloud_enabled=True, cloud_registered=True)
_WELL_KEPT = AuditSettings(
    ntp_servers=("10.77.0.1",), dns=("10.77.0.1",),
    users=(("cctv-ops", "Administrator"), (LAB_USER, "Operator")),
)  # fmt: skip
_NVR_EXPOSED = AuditSettings(
    cloud_enabled=True, cloud_registered=False, ddns_enabled=True, upnp_enabled=True,
    upnp_mappings=(("http", "8080", "TCP"), ("rtsp", "8554", "TCP"), ("sdk", "8000", "TCP")),
    users=(("admin", "Administrator"), ("installer", "Administrator"), (LAB_USER, "Operator")),
)  # fmt: skip
_DAHUA_EXPOSED = AuditSettings(
    cloud_enabled=True, ntp_servers=("clock.isc.org",), ddns_enabled=True, ddns_provider="Dahua DDNS",
    ddns_server="www.dahuaddns.com", upnp_enabled=True,
    upnp_mappings=(("80", "10080", "TCP"), ("37777", "37777", "TCP")),
    users=(("admin", "admin"), ("888888", "admin"), (LAB_USER, "user")),
)  # fmt: skip
_ONVIF_NATIONAL_TIME = AuditSettings(
    ntp_servers=("ntp1.npl.co.uk",), dns=("10.77.0.1",),
    users=(("root", "Administrator"), (LAB_USER, "Operator")),
)  # fmt: skip


def _hik(name: str, mac: str, model: str, serial: str, firmware: str, **kw: object) -> DeviceProfile:
    return DeviceProfile(
        name=name, ip="0.0.0.0", mac=mac, kind="hikvision", vendor="Hikvision", model=model,
        serial=serial, firmware=firmware, services=_HIK, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def _standard() -> list[DeviceProfile]:
    """The standard devices, addresses unassigned (0.0.0.0)."""
    return [
        _hik("hik-cam-1", "58:50:ed:1f:e3:85", "DS-2CD2385G1-I", "DS-2CD2385G1-I20200414AAWRE33842150",
             "V5.6.2 build 190701", device_type="141945", cloud=True, onvif_auth=False,
             audit=_CLOUD_REGISTERED),
        _hik("hik-cam-2", "44:47:cc:37:ce:81", "DS-2CD2320D-I", "DS-2CD2320D-I20180919AACHC52932642",
             "V5.5.6 build 180326", device_type="142378", audit=_WELL_KEPT),
        _hik("hik-nvr", "4c:62:df:10:20:30", "DS-7608NI-K2", "DS-7608NI-K20820190315CCRRD12345678WCVU",
             "V4.22.005 build 191204", device_type="139524", cloud=True, audit=_NVR_EXPOSED),
        _hik("hik-old-unactivated", "44:19:b6:a1:b2:c3", "DS-2CD2032F-I",
             "DS-2CD2032F-I20140812CCWR470512345",
             "V5.2.0 build 140721", device_type="31", activated=False, onvif_auth=False, realm="Hikvision"),
        DeviceProfile(
            name="oem-lts", ip="0.0.0.0", mac="14:2f:fd:5e:6f:70", kind="hikvision-oem", vendor="LTS",
            model="CMIP3042-28", serial="CMIP3042-2820190611AAWR123456789", firmware="V5.5.82 build 190220",
            services=_HIK, device_type="141945", http_server="DNVRS-Webs", realm="Hikvision",
        ),
        DeviceProfile(
            name="dahua-cam", ip="0.0.0.0", mac="e4:24:6c:87:42:7a", kind="dahua", vendor="Dahua",
            model="IPC-HFW2228M-I1-V2", serial="6C01E93PAG69A7D", firmware="2.800.0000000.13.R",
            services=_DAHUA, onvif_auth=False, audit=_DAHUA_EXPOSED,
        ),
        DeviceProfile(
            name="cpplus-cam", ip="0.0.0.0", mac="c0:39:5a:11:22:33", kind="dahua-oem", vendor="CP PLUS",
            model="CP-UNC-DA21PL3-Y", serial="7K0A1B2PAZ00123", firmware="2.622.0000000.8.R",
            services=_DAHUA, onvif_auth=False,
        ),
        DeviceProfile(
            name="axis-cam", ip="0.0.0.0", mac="ac:cc:8e:12:34:56", kind="axis", vendor="Axis",
            model="P3225-LV Mk II", serial="ACCC8E123456", firmware="10.12.182",
            services=frozenset({WSD, HTTP, ONVIF, RTSP}),
            audit=_ONVIF_NATIONAL_TIME,
        ),
        DeviceProfile(
            name="web-server", ip="0.0.0.0", mac="00:16:3e:5a:6b:7c", kind="nginx", vendor="nginx",
            model="", serial="", firmware="1.24.0", services=frozenset({HTTP}),
        ),
        DeviceProfile(
            name="windows-pc", ip="0.0.0.0", mac="00:15:5d:01:02:03", kind="windows", vendor="Microsoft",
            model="Computer", serial="DESKTOP-LAB01", firmware="10.0.19045",
            services=frozenset({WSD, WSDAPI}),
        ),
    ]  # fmt: skip


def _hostile() -> list[DeviceProfile]:
    base = _standard()[0]
    out = []
    for i, behaviour in enumerate(
        (XML_BOMB, XXE, ENDLESS_BODY, SLOWLORIS, HUGE_RTSP_HEADER, SADP_FLOOD), start=1
    ):
        out.append(
            replace(
                base, name=f"hostile-{behaviour.replace('_', '-')}", mac=f"58:50:ed:66:00:{i:02x}",
                serial=f"DS-2CD2385G1-I20200414AAWRE3384{i:04d}", hostile=frozenset({behaviour}),
            )
        )  # fmt: skip
    return out


def _audit_devices() -> list[DeviceProfile]:
    """Devices that test the auditor's manners: wrong password, lockout, 401 forever, endless XML."""
    base = _standard()[1]  # hik-cam-2
    wrong = AuditSettings(password="Another-Password-9")
    specs = (
        ("audit-wrong-password", wrong),
        ("audit-lockout", replace(wrong, lock_after=2, lock_seconds=600)),
        ("audit-401-forever", AuditSettings(behaviour=UNAUTHORIZED_FOREVER)),
        ("audit-endless-xml", AuditSettings(behaviour=ENDLESS_XML)),
    )
    return [
        replace(base, name=name, mac=f"44:47:cc:77:00:{i:02x}", serial=f"DS-2CD2320D-I2018091AAC{i:04d}",
                audit=settings)
        for i, (name, settings) in enumerate(specs, start=1)
    ]  # fmt: skip


def _variant(p: DeviceProfile, n: int) -> DeviceProfile:
    """The n-th copy of a standard profile: same family, its own MAC, serial and name."""
    mac = p.mac.split(":")
    tail = (int("".join(mac[3:]), 16) + n * 7919) & 0xFFFFFF
    new_mac = ":".join([*mac[:3], f"{tail >> 16:02x}", f"{(tail >> 8) & 0xFF:02x}", f"{tail & 0xFF:02x}"])
    serial = f"{p.serial[:-4]}{n:04d}" if p.serial else ""
    return replace(p, name=f"{p.name}-{n}", mac=new_mac, serial=serial)


def default_lab(
    count: int | None = None, hostile: bool = False, base: str = "10.77.0.", audit: bool = False
) -> list[DeviceProfile]:
    """The lab's devices, addresses `base`10, `base`11, … in order (hostile ones, then audit ones, last).

    `audit` appends the devices that test `hikscan audit`'s manners (wrong password, lockout,
    401 forever, endless XML).

    `count` None gives the standard set (10 devices); `count` N gives N devices cycling through the
    standard profiles (deterministic), e.g. for the 100-device benchmark.
    """
    standard = _standard()
    if count is None:
        devices = standard
    else:
        if count < 1:
            raise ValueError("count must be at least 1")
        devices = [
            standard[i] if i < len(standard) else _variant(standard[i % len(standard)], i // len(standard))
            for i in range(count)
        ]
    if hostile:
        devices = devices + _hostile()
    if audit:
        devices = devices + _audit_devices()
    return assign_addresses(devices, base)


def assign_addresses(devices: list[DeviceProfile], base: str, first: int = 10) -> list[DeviceProfile]:
    """Give the devices consecutive addresses from `base` + `first` (e.g. 10.77.0.10) within one /24."""
    if not base.endswith(".") or base.count(".") != 3:
        raise ValueError(f"base must look like '10.77.0.', not {base!r}")
    if first + len(devices) > 255:
        raise ValueError(f"{len(devices)} devices do not fit in {base}{first}-{base}254")
    return [replace(d, ip=f"{base}{first + i}") for i, d in enumerate(devices)]

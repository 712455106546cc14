"""`hikscan lab`: emulated CCTV devices speaking the real protocols on real sockets.

Stable API (used by the tests, the active-probe tests and the CLI):

- `hikscan.lab.profiles.default_lab(count=None, hostile=False, base="10.77.0.", audit=False)
  -> list[DeviceProfile]`
  The standard set (count None) gets addresses base+10 … base+19, in this order:
  hik-cam-1 DS-2CD2385G1-I (Hik-Connect on, ONVIF GetDeviceInformation open), hik-cam-2
  DS-2CD2320D-I, hik-nvr DS-7608NI-K2, hik-old-unactivated DS-2CD2032F-I V5.2.0 build 140721
  (Activated=false, CVE-2017-7921 range), oem-lts (LTS CMIP3042-28: Hikvision firmware, LT Security
  MAC, `DNVRS-Webs`), dahua-cam IPC-HFW2228M-I1-V2, cpplus-cam CP-UNC-DA21PL3-Y (Dahua OEM scopes),
  and negatives axis-cam (Axis OUI, realm AXIS_…), web-server (nginx), windows-pc (WS-Discovery
  `wsdp:Device pub:Computer` only). `count=N` gives N devices cycling through those (deterministic
  names, MACs, serials); `hostile=True` appends six hostile devices (`profiles.HOSTILE`): xml_bomb,
  xxe, endless_body, slowloris, huge_rtsp_header, sadp_flood (1000 replies to one inquiry).
  `audit=True` appends four devices that test `hikscan audit` (wrong password, lockout after 2
  failures, 401 forever, endless XML). `DeviceProfile` is a frozen dataclass: name, ip, mac, kind,
  vendor, model, serial, firmware, services, activated, cloud, onvif_auth, hostile, audit
  (`AuditSettings`: the account the device accepts and what it is set to do; see profiles.py).
  Devices with `audit` answer Digest-protected ISAPI / Dahua CGI reads and WS-UsernameToken ONVIF
  Get* operations (`hikscan.lab.audit`); without it, those requests get a 401 as before.
- `hikscan.lab.server.Lab(profiles, interface=None, stream_limit=60.0, allow_root_netns=False,
  request_log=None)`; `request_log` appends one JSON line per HTTP request (ip, method, path, ONVIF
  action, whether it carried credentials);
  `.run(stop_event: threading.Event)` blocks, serving every device in one asyncio loop on its own
  IP until the event is set; `.ready` (threading.Event) is set once all sockets are bound; `.bound`
  lists (service, ip, port). With `interface`, UDP discovery also answers multicast received on it
  (SADP 239.255.255.250:37020, WS-Discovery 239.255.255.250:3702, DHIP 239.255.255.251:37810),
  unicast back to the sender from each device's own address. Devices always answer unicast too.
- `python -m hikscan.lab [--count N] [--hostile] [--audit] [--request-log FILE] [--base 10.77.0.]
  [--interface IF] [--loopback] [--stream-limit S]` → `hikscan.lab.__main__.main(argv) -> int`:
  prints one line per device, then
  `lab ready: N devices, M sockets` (flushed), and serves until SIGINT/SIGTERM (exit 0; 2 on a
  usage error). Without --loopback it needs --interface, adds missing device addresses to it, and
  refuses to run in the root network namespace. --loopback binds 127.77.0.x, unicast only.

Services and ports: SADP UDP 37020, WS-Discovery UDP 3702, DHIP UDP 37810, HTTP TCP 80 (with ONVIF
at POST /onvif/device_service: GetSystemDateAndTime open, GetDeviceInformation open or a 401 SOAP
NotAuthorized fault per `onvif_auth`), RTSP TCP 554 (401 Digest), Hikvision SDK TCP 8000 (16 bytes
`00 00 00 10 …`: the 0x1e variant after 1 s of silence, 0x0d once the client has sent bytes), Dahua
TCP 37777 (silent), Windows WSDAPI TCP 5357. Replies are templated from real device responses
(`templates/PROVENANCE.md`); favicons are placeholders, so the lab never yields the real mmh3 hashes.
"""

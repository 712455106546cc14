"""ONVIF device service: unauthenticated SOAP requests and their responses.

GetSystemDateAndTime is unauthenticated by the ONVIF spec, so it is a safe unicast liveness check
where multicast discovery does not reach. GetDeviceInformation is often answered without login
too; when the device wants credentials it returns a SOAP Fault (ter:NotAuthorized), which is a
result here (requires_auth=True), not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree.ElementTree import Element

from hikscan.errors import MalformedInput
from hikscan.protocols.safexml import child_text, find_local, parse_xml
from hikscan.report.model import Evidence

MAX_ONVIF_BYTES = 64 * 1024
DEVICE_SERVICE_PATH = "/onvif/device_service"
CONTENT_TYPE = "application/soap+xml; charset=utf-8"
_MAX_VALUE = 512
_INFO_FIELDS = ("Manufacturer", "Model", "FirmwareVersion", "SerialNumber", "HardwareId")


def _envelope(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
        ' xmlns:tds="http://www.onvif.org/ver10/device/wsdl">'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def build_get_system_date_and_time() -> bytes:
    """SOAP 1.2 envelope for tds:GetSystemDateAndTime (no credentials)."""
    return _envelope("<tds:GetSystemDateAndTime/>")


def build_get_device_information() -> bytes:
    """SOAP 1.2 envelope for tds:GetDeviceInformation (no credentials)."""
    return _envelope("<tds:GetDeviceInformation/>")


@dataclass(frozen=True, slots=True)
class SoapFault:
    code: str | None
    subcode: str | None
    reason: str | None

    @property
    def requires_auth(self) -> bool:
        text = " ".join(x for x in (self.code, self.subcode, self.reason) if x).lower()
        return "notauthorized" in text or "not authorized" in text or "unauthorized" in text


@dataclass(frozen=True, slots=True)
class DeviceInformation:
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    serial: str | None = None
    hardware_id: str | None = None
    fault: SoapFault | None = None

    @property
    def requires_auth(self) -> bool:
        return self.fault is not None and self.fault.requires_auth


@dataclass(frozen=True, slots=True)
class SystemDateTime:
    utc: datetime | None = None
    date_time_type: str | None = None  # "NTP" or "Manual"
    timezone: str | None = None
    fault: SoapFault | None = None

    @property
    def requires_auth(self) -> bool:
        return self.fault is not None and self.fault.requires_auth


def _fault(root: Element) -> SoapFault | None:
    fault = find_local(root, "Fault")
    if fault is None:
        return None
    code_el = find_local(fault, "Code")
    code = child_text(code_el, "Value") if code_el is not None else child_text(fault, "faultcode")
    sub_el = find_local(code_el, "Subcode") if code_el is not None else None
    subcode = child_text(sub_el, "Value") if sub_el is not None else None
    reason_el = find_local(fault, "Reason")
    reason = child_text(reason_el, "Text") if reason_el is not None else child_text(fault, "faultstring")
    return SoapFault(code=_clip(code), subcode=_clip(subcode), reason=_clip(reason))


def _clip(value: str | None) -> str | None:
    return value[:_MAX_VALUE] if value else None


def parse_device_information(data: bytes) -> DeviceInformation:
    """GetDeviceInformationResponse (full envelope or bare body) or a SOAP Fault."""
    root = parse_xml(data, MAX_ONVIF_BYTES)
    fault = _fault(root)
    if fault is not None:
        return DeviceInformation(fault=fault)
    resp = find_local(root, "GetDeviceInformationResponse")
    if resp is None:
        raise MalformedInput("ONVIF: no GetDeviceInformationResponse")
    values = {name: _clip(child_text(resp, name)) for name in _INFO_FIELDS}
    if not any(values.values()):
        raise MalformedInput("ONVIF: GetDeviceInformationResponse has no fields")
    return DeviceInformation(
        manufacturer=values["Manufacturer"],
        model=values["Model"],
        firmware=values["FirmwareVersion"],
        serial=values["SerialNumber"],
        hardware_id=values["HardwareId"],
    )


def _int_child(parent: Element | None, name: str, low: int, high: int) -> int:
    text = child_text(parent, name) if parent is not None else None
    if text is None or not text.isdigit() or not low <= int(text) <= high:
        raise MalformedInput(f"ONVIF: bad {name} {text!r:.20}")
    return int(text)


def parse_system_date_and_time(data: bytes) -> SystemDateTime:
    """GetSystemDateAndTimeResponse: the UTC date/time (None if the device omits it), or a Fault."""
    root = parse_xml(data, MAX_ONVIF_BYTES)
    fault = _fault(root)
    if fault is not None:
        return SystemDateTime(fault=fault)
    sdt = find_local(root, "SystemDateAndTime")
    if sdt is None:
        raise MalformedInput("ONVIF: no SystemDateAndTime")
    tz_el = find_local(sdt, "TimeZone")
    timezone = _clip(child_text(tz_el, "TZ")) if tz_el is not None else None
    utc = None
    utc_el = find_local(sdt, "UTCDateTime")
    if utc_el is not None:
        date_el = find_local(utc_el, "Date")
        time_el = find_local(utc_el, "Time")
        try:
            utc = datetime(
                _int_child(date_el, "Year", 1, 9999),
                _int_child(date_el, "Month", 1, 12),
                _int_child(date_el, "Day", 1, 31),
                _int_child(time_el, "Hour", 0, 23),
                _int_child(time_el, "Minute", 0, 59),
                min(_int_child(time_el, "Second", 0, 61), 59),
                tzinfo=UTC,
            )
        except ValueError as exc:  # e.g. 31 February
            raise MalformedInput(f"ONVIF: impossible date: {exc}") from None
    return SystemDateTime(utc=utc, date_time_type=_clip(child_text(sdt, "DateTimeType")), timezone=timezone)


def evidence(info: DeviceInformation, source: str = "onvif") -> list[Evidence]:
    """`onvif.<Field>` for Manufacturer, Model, FirmwareVersion, SerialNumber, HardwareId."""
    pairs = (
        ("Manufacturer", info.manufacturer),
        ("Model", info.model),
        ("FirmwareVersion", info.firmware),
        ("SerialNumber", info.serial),
        ("HardwareId", info.hardware_id),
    )
    out = [Evidence(source, f"onvif.{key}", value) for key, value in pairs if value]
    if info.requires_auth:
        out.append(Evidence(source, "onvif.requires_auth", "true"))
    return out

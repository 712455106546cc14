"""hikscan: find Hikvision/Dahua CCTV devices and flag CCTV traffic that leaves the country."""

__version__ = "0.2.0"

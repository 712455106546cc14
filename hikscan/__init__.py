"""hikscan: find Hikvision/Dahua CCTV devices and flag CCTV traffic that leaves the country."""

__version__ = "0.1.0"

"""Authenticated, read-only audit readers: Hikvision ISAPI, Dahua CGI, ONVIF (see run.py)."""

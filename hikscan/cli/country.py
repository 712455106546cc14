"""--home-country: an ISO 3166-1 alpha-2 code, checked against pycountry's copy of the ISO list.

"UK" and "EL" are not ISO 3166-1 codes (they are "exceptionally reserved" for the United Kingdom and
Greece); people type them, so they map to GB and GR with a note. Alpha-3 codes (GBR) map the same way.
Anything else unknown is a usage error: a wrong home country would make every home server "overseas".
"""

from __future__ import annotations

import pycountry

from hikscan.errors import UsageError

EXCEPTIONALLY_RESERVED = {"UK": "GB", "EL": "GR"}


def iso_country(value: str) -> tuple[str, str | None]:
    """(alpha-2 code, note or None); raises UsageError for anything that is not a country."""
    text = value.strip().upper()
    if text in EXCEPTIONALLY_RESERVED:
        code = EXCEPTIONALLY_RESERVED[text]
        return code, f"{text} is not an ISO 3166 code; using {code} ({_name(code)})"
    if len(text) == 2 and text.isalpha() and pycountry.countries.get(alpha_2=text) is not None:
        return text, None
    if len(text) == 3 and text.isalpha():
        country = pycountry.countries.get(alpha_3=text)
        if country is not None:
            return country.alpha_2, f"{text} is an alpha-3 code; using {country.alpha_2} ({country.name})"
    raise UsageError(
        f"--home-country {value!r}: not an ISO 3166 two-letter country code (for example GB, IE, US)"
    )


def _name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code)
    return country.name if country is not None else code

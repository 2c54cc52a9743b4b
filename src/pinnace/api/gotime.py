"""metav1.Time and metav1.MicroTime as kube-apiserver reads and writes them.

Every timestamp of a built-in kind (``creationTimestamp``, a condition's
``lastTransitionTime``, a Lease's ``renewTime``) is a Go ``time.Time`` inside:
the decoder parses the string with ``time.Parse`` and the encoder writes it
again in UTC. Two things follow, and clients see both:

* a string that is no such time is refused when the body is decoded (400
  ``Lease in version "v1" cannot be handled as a Lease: parsing time
  "yesterday" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "yesterday"
  as "2006"``); stored, it would break every typed client that lists the kind;
* a valid one comes back in one form: ``metav1.Time`` as RFC 3339 in UTC with
  whole seconds (``2026-11-28T06:27:35.5+02:00`` → ``2026-11-28T04:27:35Z``),
  ``metav1.MicroTime`` with exactly six fractional digits
  (``2026-11-28T04:27:35.225962Z``), which is also the only form its parser
  takes.

:func:`canonical` does both, with Go's parser rules (which are laxer than RFC
3339 in places: a one-digit hour, a comma before the fraction) and its error
messages.
"""

from __future__ import annotations

__all__ = ["MICRO", "TIME", "GoTimeError", "canonical"]

#: The layouts of ``metav1.Time`` (``time.RFC3339``) and ``metav1.MicroTime`` (``metav1.RFC3339Micro``).
TIME = "2006-01-02T15:04:05Z07:00"
MICRO = "2006-01-02T15:04:05.000000Z07:00"

#: Go's zero time (0001-01-01T00:00:00Z) in seconds from the Unix epoch; it is encoded as ``null``.
_ZERO_SECONDS = -62135596800
_DIGITS = b"0123456789"
#: A fraction of n digits is nanoseconds times _SCALE[9 - n].
_SCALE: list[int] = [10**i for i in range(10)]


class GoTimeError(ValueError):
    """A string ``time.Parse`` refuses; the message is Go's."""


class _Bad(Exception):
    """Parsing a chunk failed (Go's ``errBad``)."""


def _quote(raw: bytes) -> str:
    """Go's ``time.quote``: the string in double quotes, non-printable and non-ASCII bytes as ``\\xNN``."""
    out = ['"']
    i, n = 0, len(raw)
    while i < n:
        byte = raw[i]
        if 0x20 <= byte < 0x80:
            out.append("\\" + chr(byte) if byte in (0x22, 0x5C) else chr(byte))
            i += 1
            continue
        width = 1
        if byte >= 0xC0:  # the bytes of one valid UTF-8 character are escaped together
            want = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            try:
                raw[i : i + want].decode("utf-8")
                width = want
            except UnicodeDecodeError:
                width = 1
        out.extend(f"\\x{b:02x}" for b in raw[i : i + width])
        i += width
    out.append('"')
    return "".join(out)


def _failure(layout: str, value: bytes, value_elem: bytes, layout_elem: str) -> GoTimeError:
    return GoTimeError(
        f"parsing time {_quote(value)} as {_quote(layout.encode())}: "
        f"cannot parse {_quote(value_elem)} as {_quote(layout_elem.encode())}"
    )


def _out_of_range(value: bytes, message: str) -> GoTimeError:
    return GoTimeError(f"parsing time {_quote(value)}: {message}")


def _is_digit(s: bytes, i: int) -> bool:
    return i < len(s) and s[i] in _DIGITS


def _getnum(s: bytes, fixed: bool) -> tuple[int, bytes]:
    """Go's ``getnum``: one or two leading digits (exactly two if ``fixed``)."""
    if not _is_digit(s, 0):
        raise _Bad
    if not _is_digit(s, 1):
        if fixed:
            raise _Bad
        return s[0] - 48, s[1:]
    return (s[0] - 48) * 10 + s[1] - 48, s[2:]


def _atoi(s: bytes) -> int:
    """Go's ``time.atoi``: an optional sign, then digits only (none at all reads as 0)."""
    negative = s[:1] == b"-"
    if s[:1] in (b"-", b"+"):
        s = s[1:]
    if any(b not in _DIGITS for b in s):
        raise _Bad
    number = int(s) if s else 0
    return -number if negative else number


def _nanoseconds(s: bytes, width: int) -> int:
    """Go's ``parseNanoseconds``: ``s[:width]`` is a period or comma and digits (only the first nine count)."""
    if s[:1] not in (b".", b","):
        raise _Bad
    width = min(width, 10)
    number = _atoi(s[1:width])
    if number < 0:
        raise _RangeError("fractional second")
    return number * _SCALE[10 - width]


class _RangeError(Exception):
    """A field out of its range (Go's ``rangeErrString``)."""


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to the proleptic Gregorian date (any year, as Go's Date normalises)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, day


def _days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _parse(text: str, micro: bool) -> tuple[int, int]:
    """``time.Parse`` of ``text`` with the layout of Time (or MicroTime): seconds from the epoch and nanoseconds."""
    layout = MICRO if micro else TIME
    raw = text.encode("utf-8", "surrogatepass")
    value = raw
    # The layouts' chunks in order: the literal that must come first, then the element (Go's nextStdChunk).
    chunks = [("", "2006"), ("-", "01"), ("-", "02"), ("T", "15"), (":", "04"), (":", "05")]
    chunks += [("", ".000000"), ("", "Z07:00")] if micro else [("", "Z07:00")]
    year = month = day = hour = minute = second = nanos = 0
    offset: int | None = None
    for prefix, element in chunks:
        if prefix:
            if value[:1] != prefix.encode():
                raise _failure(layout, raw, value, prefix)
            value = value[1:]
        hold = value
        try:
            if element == "2006":
                if len(value) < 4 or not _is_digit(value, 0):
                    raise _Bad
                year, value = _atoi(value[:4]), value[4:]
            elif element == "01":
                month, value = _getnum(value, True)
                if not 0 < month <= 12:
                    raise _RangeError("month")
            elif element == "02":
                day, value = _getnum(value, True)  # checked against the month once all is read, as Go does
            elif element == "15":
                hour, value = _getnum(value, False)
                if hour >= 24:
                    raise _RangeError("hour")
            elif element == "04":
                minute, value = _getnum(value, True)
                if minute >= 60:
                    raise _RangeError("minute")
            elif element == "05":
                second, value = _getnum(value, True)
                if second >= 60:
                    raise _RangeError("second")
                if not micro and len(value) >= 2 and value[:1] in (b".", b",") and _is_digit(value, 1):
                    width = 2  # a fraction the layout does not have is read all the same
                    while _is_digit(value, width):
                        width += 1
                    nanos, value = _nanoseconds(value, width), value[width:]
            elif element == ".000000":
                if len(value) < 7:
                    raise _Bad
                nanos, value = _nanoseconds(value, 7), value[7:]
            elif value[:1] == b"Z":
                value, offset = value[1:], 0
            else:
                if len(value) < 6 or value[3:4] != b":":
                    raise _Bad
                sign, hours, minutes, value = value[:1], value[1:3], value[4:6], value[6:]
                zone_hour, _ = _getnum(hours, True)
                zone_minute, _ = _getnum(minutes, True)
                if zone_hour > 24:
                    raise _RangeError("time zone offset hour")
                if zone_minute > 60:
                    raise _RangeError("time zone offset minute")
                if sign not in (b"+", b"-"):
                    raise _Bad
                offset = (zone_hour * 60 + zone_minute) * 60 * (1 if sign == b"+" else -1)
        except _Bad:
            raise _failure(layout, raw, hold, element) from None
        except _RangeError as exc:
            raise _out_of_range(raw, f"{exc.args[0]} out of range") from None
    if value:
        raise _out_of_range(raw, f"extra text: {_quote(value)}")
    if not 1 <= day <= _days_in(month, year):
        raise _out_of_range(raw, "day out of range")
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - (offset or 0)
    return seconds, nanos


def _format(seconds: int, nanos: int, micro: bool) -> str:
    days, rest = divmod(seconds, 86400)
    year, month, day = _civil_from_days(days)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    year_text = f"-{-year:04d}" if year < 0 else f"{year:04d}"
    fraction = f".{nanos // 1000:06d}" if micro else ""
    return f"{year_text}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{fraction}Z"


#: Strings already seen, with their canonical form (None: the zero time) or their error. Timestamps repeat
#: (each update of an object sends its creationTimestamp and managedFields times back), so most are hits.
_seen: dict[tuple[str, bool], str | GoTimeError | None] = {}
_SEEN_MAX = 4096


def canonical(text: str, micro: bool = False) -> str | None:
    """``text`` as the API server writes the Time (``micro``: MicroTime) it parses to; None for Go's zero time
    (encoded as null). GoTimeError, with Go's message, if ``time.Parse`` refuses it."""
    key = (text, micro)
    found = _seen.get(key, _seen)
    if found is _seen:
        try:
            seconds, nanos = _parse(text, micro)
        except GoTimeError as exc:
            found = exc
        else:
            found = None if seconds == _ZERO_SECONDS and nanos == 0 else _format(seconds, nanos, micro)
        if len(_seen) >= _SEEN_MAX:
            _seen.clear()
        _seen[key] = found
    if isinstance(found, GoTimeError):
        raise GoTimeError(str(found))
    return found  # type: ignore[return-value]

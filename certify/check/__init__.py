"""Independent checker of attncert certificates (the trusted base; see :mod:`.verify`)."""

from certify.check.verify import check_certificate, check_file

__all__ = ["check_certificate", "check_file"]

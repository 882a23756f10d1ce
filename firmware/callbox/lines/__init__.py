"""Phone lines: one :class:`~callbox.lines.base.Line` interface, one implementation per technology.

``sip.py`` (pjsua2) and ``gsm.py`` (AT commands over pyserial). Every line dials only by redeeming a
:class:`~callbox.compliance.permit.Permit`.
"""

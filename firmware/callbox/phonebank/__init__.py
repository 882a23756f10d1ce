"""The virtual phone bank: scripted callees on pjsua2 endpoints, in a process of their own.

It stands in for the people the demo and the integration tests call. Every callee answers a real SIP
call on 127.0.0.1, listens to what the box says, speaks real synthesized speech and sends real
RFC 2833 DTMF, and keeps what it heard so tests can check it (e.g. run ASR on it).
"""

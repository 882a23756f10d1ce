#!/usr/bin/env python3
"""Smoke test of a freshly built pjsua2 binding (run inside the image by scripts/image/rehearse-arm64.sh).

Creates an endpoint on the null audio device, then places one loopback call on 127.0.0.1 between two
local accounts of that endpoint (alice calls bob, bob answers, alice hangs up once the call is
confirmed with media) and destroys the endpoint. Exit status 0 on success. Python standard library
and pjsua2 only: it runs in the image before callbox is installed.
"""

import sys
import time

import pjsua2 as pj

TIMEOUT = 30.0  # seconds; generous because the rehearsal runs under qemu user emulation


class Call(pj.Call):
    def __init__(self, acc, call_id=pj.PJSUA_INVALID_ID, log=None):
        super().__init__(acc, call_id)
        self.log = log
        self.confirmed = False
        self.disconnected = False
        self.media_active = False

    def onCallState(self, prm):
        ci = self.getInfo()
        self.log.append(f"{ci.localUri}: {ci.stateText}")
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.confirmed = True
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True

    def onCallMediaState(self, prm):
        ci = self.getInfo()
        for mi in ci.media:
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.media_active = True


class Account(pj.Account):
    def __init__(self, log):
        super().__init__()
        self.log = log
        self.calls = []

    def onIncomingCall(self, prm):
        call = Call(self, prm.callId, self.log)
        self.calls.append(call)
        op = pj.CallOpParam()
        op.statusCode = 200
        call.answer(op)


def main() -> int:
    log: list[str] = []
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 1
    cfg.logConfig.consoleLevel = 1
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    tcfg = pj.TransportConfig()
    tcfg.port = 0
    tcfg.boundAddress = "127.0.0.1"
    tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    port = int(ep.transportGetInfo(tid).localName.rsplit(":", 1)[-1])
    ep.libStart()
    print(f"pjsua2 {ep.libVersion().full} started, UDP 127.0.0.1:{port}, null audio device")

    accounts = {}
    for user in ("alice", "bob"):
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:{user}@127.0.0.1:{port}"
        acc = Account(log)
        acc.create(acfg)
        accounts[user] = acc

    call = Call(accounts["alice"], log=log)
    call.makeCall(f"sip:bob@127.0.0.1:{port}", pj.CallOpParam(True))
    ok = False
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        ep.libHandleEvents(20)
        if call.confirmed and call.media_active:
            ok = True
            break
        if call.disconnected:
            break
    if call.confirmed and not call.disconnected:
        call.hangup(pj.CallOpParam())
        end = time.monotonic() + 5
        while not call.disconnected and time.monotonic() < end:
            ep.libHandleEvents(20)
    for line in log:
        print("  " + line)
    # Calls and accounts must go before the library, or libDestroy asserts.
    del call
    accounts["bob"].calls.clear()
    for acc in accounts.values():
        acc.shutdown()
    accounts.clear()
    ep.libDestroy()
    print("loopback call:", "confirmed with audio media, hung up" if ok else "FAILED")
    print("endpoint destroyed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

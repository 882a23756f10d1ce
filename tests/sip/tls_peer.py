"""A second pjsua2 process (one Endpoint per process) acting as a TLS + SRTP "PBX" on 127.0.0.1.

It answers every call with 200 after checking the offer is SRTP (``RTP/SAVP`` with an ``a=crypto``
line), holds it for ``--hold`` seconds, hangs up, and reports each call as one JSON line on stdout.
SIPp on this machine has no TLS, so this is how the box's TLS transport and SRTP are tested.

    python tls_peer.py --cert c.pem --key k.pem [--hold 1.0]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

from callbox.lines.pjsip import PjEngine, TlsFiles, pj

_out = threading.Lock()


def emit(obj: dict) -> None:
    with _out:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def _op(code: int) -> Any:
    prm = pj.CallOpParam()
    prm.statusCode = code
    return prm


class PeerCall(pj.Call):  # type: ignore[misc]
    def __init__(self, peer: "Peer", account: Any, call_id: int) -> None:
        super().__init__(account, call_id)
        self.peer = peer
        self.offer = ""

    def onCallSdpCreated(self, prm: Any) -> None:  # noqa: N802
        self.offer = prm.remSdp.wholeSdp or self.offer

    def onCallState(self, prm: Any) -> None:  # noqa: N802
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            emit({"event": "ended", "status": info.lastStatusCode})
            self.peer.engine.call(lambda: self.peer.engine.keep.discard(self), wait=False)


class PeerAccount(pj.Account):  # type: ignore[misc]
    def __init__(self, peer: "Peer") -> None:
        super().__init__()
        self.peer = peer

    def onIncomingCall(self, prm: Any) -> None:  # noqa: N802
        call = PeerCall(self.peer, self, prm.callId)
        self.peer.engine.keep.add(call)
        offer = prm.rdata.wholeMsg
        srtp = "RTP/SAVP" in offer and "a=crypto:" in offer
        emit({"event": "incoming", "srtp": srtp, "transport": "tls" if "TLS" in offer.split("\n", 2)[1] else "?",
              "from": call.getInfo().remoteUri})
        call.answer(_op(200))
        self.peer.engine.call_later(self.peer.hold_s, lambda: call.hangup(_op(200)))


class Peer:
    def __init__(self, cert: str, key: str, hold_s: float) -> None:
        self.hold_s = hold_s
        self.engine = PjEngine("127.0.0.1", 0, log_level=0, name="tls-peer", transport="tls",
                               tls=TlsFiles(cert_file=cert, key_file=key, verify_server=False))

    def start(self) -> int:
        self.engine.start()

        def _account() -> Any:
            acfg = pj.AccountConfig()
            acfg.idUri = "sip:pbx@127.0.0.1"
            acfg.regConfig.registerOnAdd = False
            acfg.sipConfig.transportId = self.engine.transport_id
            acfg.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_MANDATORY
            acfg.mediaConfig.srtpSecureSignaling = 1
            acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
            acfg.mediaConfig.transportConfig.publicAddress = "127.0.0.1"
            account = PeerAccount(self)
            account.create(acfg)
            return account

        self.engine.objects["account"] = self.engine.call(_account)
        return self.engine.port


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--hold", type=float, default=1.0)
    args = parser.parse_args()
    peer = Peer(args.cert, args.key, args.hold)
    emit({"event": "ready", "port": peer.start()})
    sys.stdin.read()  # run until the test closes our stdin
    peer.engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``hack/demo.sh --node``: the operator running as a pod on a real local node.

Starts the single-node cluster (tests/node/cluster.py), installs the operator with
``kubectl apply -k`` of the real manifests and the image built here, applies examples/,
and shows the pods, the Lease and the platforms going Ready through the in-pod operator.
Then waits for Ctrl-C (or exits with ``--exit``) and tears everything down, host restored.
Development tooling: nothing here ships in the image.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

from tests.node.cluster import NodeCluster, NodeUnavailable
from tests.node.install import NAMESPACE, install_with_kustomize, lease_holder, platform_ready, wait_for

EXAMPLES = ("minimal.yaml",)  # platform.yaml needs its team namespace and Secret


def say(message: str) -> None:
    print(f"[node-demo] {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hack/demo.sh --node", description=__doc__)
    parser.add_argument("--exit", action="store_true", help="stop once every platform is Ready")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        node = NodeCluster.start(say)
    except NodeUnavailable as missing:
        say(str(missing))
        return 2
    with node:
        say(f"installing the operator: kubectl apply -k manifests/ with image {node.operator_image}")
        install_with_kustomize(node, Path(tempfile.mkdtemp(dir=node.workdir, prefix="overlay-")))
        print(node.kubectl("get", "pods", "-n", NAMESPACE, "-o", "wide").stdout, flush=True)
        say(f"Lease payplat-operator held by {lease_holder(node)}")
        names = []
        for example in EXAMPLES:
            path = Path(__file__).resolve().parents[2] / "examples" / example
            out = node.kubectl("apply", "-n", NAMESPACE, "-f", str(path), "-o", "name").stdout
            names += [line.split("/", 1)[1] for line in out.split() if "paymentplatform" in line]
        for name in names:
            wait_for(f"{name} Ready", lambda n=name: platform_ready(node, n), 300, 2)
            say(f"PaymentPlatform {name} is Ready (reconciled by the operator pod)")
        print(node.kubectl("get", "paymentplatforms", "-n", NAMESPACE).stdout, flush=True)
        say(f"kubeconfig for this cluster: {node.kubeconfig}")
        if not args.exit:
            say("running; Ctrl-C stops the node and restores the host")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    say("node stopped, host restored")
    return 0


if __name__ == "__main__":
    sys.exit(main())

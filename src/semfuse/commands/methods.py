"""``semfuse methods``: list the registered fusion methods."""

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "methods",
        help="list the fusion methods 'semfuse fuse --method' accepts",
        description="List every registered fusion method with a one-line description, its paper, and whether it "
        "takes --weights (a network; it runs on --device, and the names of its bundled weights follow) or not (a "
        "classical method, computed on the CPU).",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from semfuse.methods import available_methods

    methods = available_methods()
    width = max(len(info.name) for info in methods)
    for info in methods:
        kind = "network, takes --weights and --device" if info.takes_weights else "classical, no weights, CPU"
        print(f"{info.name:<{width}}  {info.description}\n{'':<{width}}  [{kind}] [{info.reference}]")
        if info.bundled_weights:
            print(f"{'':<{width}}  bundled weights: {', '.join(info.bundled_weights)}")
    return 0

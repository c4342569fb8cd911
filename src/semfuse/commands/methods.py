"""``semfuse methods``: list the registered fusion methods."""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "methods",
        help="list the fusion methods 'semfuse fuse --method' accepts",
        description="List every registered fusion method with a one-line description and its paper.",
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    from semfuse.methods import available_methods

    methods = available_methods()
    width = max(len(info.name) for info in methods)
    for info in methods:
        print(f"{info.name:<{width}}  {info.description}\n{'':<{width}}  [{info.reference}]")
    return 0

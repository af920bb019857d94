import sys

if "serve" in sys.argv[1:]:
    # gevent must patch before anything imports socket, ssl or threading.
    from gevent import monkey

    monkey.patch_all()

from .cli import main  # noqa: E402

main()

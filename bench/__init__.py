"""Relay benchmarks: raw TCP, websockify alone and Ponte, side by side (issue 3).

``python -m bench`` runs everything and prints a table; ``--json FILE`` also
writes the figures; ``--quick`` is the small CI smoke run. Modules, one job each::

    rfbtarget   synthetic RFB server (stream FramebufferUpdates, or echo)
    client      raw-TCP / RFC 6455 client speaking the RFB client handshake
    procs       child processes: own process group, CPU and RSS from /proc
    stacks      the three paths: raw target, websockify, Ponte (redis+gateway+agent)
    provision   users, machines and credentials written with the gateway's own code
    loadgen     many idle agents speaking the control protocol (asyncio)
    measure     the measurements themselves
    report      statistics, the table, the JSON
    storm       `python -m bench storm`: logins in a storm while sessions echo (issue 8)
"""

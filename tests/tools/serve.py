"""What the test servers in tests/tools share: announce the port (on stdout,
and in a port file written in one step so a test can poll for it), then serve
until the lifetime is over or the server's `stop` event is set."""
import os, threading


def serve(srv, port_file, lifetime):
    port = srv.server_address[1]
    if port_file:
        with open(port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(port_file + ".tmp", port_file)
    print(port, flush=True)
    stop = getattr(srv, "stop", None) or threading.Event()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    stop.wait(lifetime)
    stop.set()
    srv.shutdown()

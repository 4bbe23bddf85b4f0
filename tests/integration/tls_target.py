"""A small HTTPS target for system tests: answers every GET and POST with
200 and a short JSON body, over TLS with the certificate and key it is
given, stamping X-Stampede-Received-Ns with when it had read the whole
request (CLOCK_REALTIME ns). Prints "tls_target listening on https://127.0.0.1:PORT" when ready
and serves until it is terminated.

    python3 tls_target.py CERT KEY
"""
import http.server
import ssl
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        received_ns = time.time_ns()
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("X-Stampede-Received-Ns", str(received_ns))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = answer
    do_POST = answer

    def log_message(self, *args):
        pass


def main():
    cert, key = sys.argv[1], sys.argv[2]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print("tls_target listening on https://127.0.0.1:%d" % server.server_address[1],
          flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

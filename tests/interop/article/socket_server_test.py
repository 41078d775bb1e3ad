# The article's echo server (../shared/seed), as it is there: it accepts one
# connection, prints what arrives, and on the first data closes first, the
# listening socket and then the connection. Only where it listens comes from
# the environment, so that the test can put it on the TUN link.
import os
import socket

HOST = os.environ.get("ARTICLE_HOST", "127.0.0.1")
PORT = int(os.environ.get("ARTICLE_PORT", "9999"))
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
# s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((HOST, PORT))
s.listen()
conn, addr = s.accept()
with conn:
    print('Connected by', addr, flush=True)
    while True:
        data = conn.recv(1024)
        print("data:", data, flush=True)
        if data:
            print("close", flush=True)
            s.close()
            break
        conn.sendall(data)

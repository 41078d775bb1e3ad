# The article's client (../shared/seed): connect, send "Hello, world", print
# the reply. Only the server's address comes from the environment.
import os
import socket

HOST = os.environ.get("ARTICLE_HOST", "127.0.0.1")
PORT = int(os.environ.get("ARTICLE_PORT", "9999"))
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((HOST, PORT))
s.sendall(b'Hello, world')
data = s.recv(1024)
print('Received', repr(data), flush=True)

"""The reference for page benchmarks: the smallest Flask app, served the same way as the portal."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "Hello, World!"

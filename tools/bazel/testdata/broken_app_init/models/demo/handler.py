def handle():
    return "demo"

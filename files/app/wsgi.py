from sales import create_app

app = create_app()

"""Extension objects, created unbound and attached by the factories with init_app."""
from flask_mail import Mail
from flask_migrate import Migrate

mail = Mail()
migrate = Migrate()

"""Web-only extensions, attached in create_app."""
from flask_login import LoginManager
from flask_wtf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message_category = "info"


@login_manager.user_loader
def load_user(user_id: str):
    from callrec.models import AdminUser, db

    return db.session.get(AdminUser, int(user_id)) if user_id.isdigit() else None

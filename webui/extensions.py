"""Web-only extensions, attached in create_app."""
from flask_login import LoginManager
from flask_wtf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message_category = "info"


@login_manager.user_loader
def load_user(session_id: str):
    """The user of a session cookie, unless the session was ended (logout, password change)."""
    from callrec.models import AdminUser, db

    return AdminUser.from_session_id(db.session, session_id)

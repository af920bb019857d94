"""Flask extensions, created unbound and bound in ``create_app``."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase

from .scoping import ScopedSession


class Base(DeclarativeBase):
    pass


# Sessions that keep each organisation's rows apart (gateway/scoping.py).
db = SQLAlchemy(model_class=Base, session_options={"class_": ScopedSession})
login_manager = LoginManager()
csrf = CSRFProtect()
migrate = Migrate()
limiter = Limiter(key_func=get_remote_address, default_limits=[])

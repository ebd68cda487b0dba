from django.urls import path

from . import views

urlpatterns = [
    path("login/", views.login),
    path("whoami/", views.whoami),
    path("info/", views.info),
    path("counter/", views.counter),
    path("beats/", views.beats),
    path("redis/", views.redis),
]

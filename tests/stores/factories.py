import factory
from django.contrib.auth import get_user_model

from stores.models import Location, StaffMembership


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_staff = True


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"LOC-{n:04d}")
    name = factory.LazyAttribute(lambda loc: f"Store {loc.code}")
    kind = Location.Kind.STORE
    city = "Shanghai"
    latitude = 31.2
    longitude = 121.4
    can_ship = True
    can_pickup = True
    can_curbside = True
    accepts_returns = True
    daily_ship_capacity = 100


class WarehouseFactory(LocationFactory):
    kind = Location.Kind.WAREHOUSE
    can_pickup = False
    can_curbside = False
    accepts_returns = False
    daily_ship_capacity = 5000


class StaffMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffMembership

    user = factory.SubFactory(UserFactory)
    location = factory.SubFactory(LocationFactory)
    role = StaffMembership.Role.ASSOCIATE

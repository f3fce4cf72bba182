import uuid
from datetime import UTC, datetime, timedelta

import factory
from django.utils import timezone

from accounts.models import Membership, Organization, Role, User
from accounts.tokens import token_hash
from projects.models import Event, IdentityKind, IdentityLink, Profile, Project

DEFAULT_PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or DEFAULT_PASSWORD)
        if create:
            self.save(update_fields=["password"])


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.MEMBER


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Project {n}")
    api_secret_hash = factory.LazyFunction(lambda: token_hash("factory-secret"))


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    project = factory.SubFactory(ProjectFactory)
    distinct_id = factory.Sequence(lambda n: f"user-{n}")
    name = "Page view"
    time = factory.Sequence(lambda n: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n))
    insert_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    properties = factory.LazyFunction(dict)
    source = "track/python 5.4.1"
    ingested_at = factory.LazyFunction(timezone.now)


class ProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Profile

    project = factory.SubFactory(ProjectFactory)
    distinct_id = factory.Sequence(lambda n: f"user-{n}")
    properties = factory.LazyFunction(dict)
    updated_at = factory.LazyFunction(timezone.now)


class IdentityLinkFactory(factory.django.DjangoModelFactory):
    """A raw link row; tests that need the cluster rules go through identity_links_apply."""

    class Meta:
        model = IdentityLink

    project = factory.SubFactory(ProjectFactory)
    distinct_id = factory.Sequence(lambda n: f"alias-{n}")
    canonical_id = factory.Sequence(lambda n: f"user-{n}")
    kind = IdentityKind.ALIAS
    created_at = factory.LazyFunction(timezone.now)

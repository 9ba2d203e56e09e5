from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models


class Role(models.TextChoices):
    """Roles are ordered: each one may do everything the one before it may."""

    ANNOTATOR = "annotator", "Annotator"
    REVIEWER = "reviewer", "Reviewer"
    MANAGER = "manager", "Manager"

    @classmethod
    def rank(cls, role: str) -> int:
        return [cls.ANNOTATOR, cls.REVIEWER, cls.MANAGER].index(role)


class AlphabetPolicy(models.TextChoices):
    GROW = "grow", "Grow the model's alphabet with new characters"
    FIXED = "fixed", "Refuse text with characters outside the project alphabet"


class Strategy(models.TextChoices):
    """The order the page and line queues serve work in.

    Random is the default: on the CREMMA wills, fine-tuning the base recognizer on randomly picked
    lines reached 30.7 % test CER with 13.6k characters typed, while least-confident-first stopped at
    32.7 % and a diversity mix at 31.7 % with the same characters (bench/active_learning.py, small,
    3 seeds). Picked for doubt, lines were shorter (28 characters against random's 30; the mix's 22)
    and, character for character, taught less about the writers to come. Least confident first
    still serves the worst readings first, for a project that will not verify every line.
    """
    LEAST_CONFIDENCE = "least_confidence", "Least confident first (fixes the worst readings first)"
    RANDOM = "random", "Random (trains the model best per line typed)"


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    alphabet_policy = models.CharField(max_length=10, choices=AlphabetPolicy.choices, default=AlphabetPolicy.GROW)
    alphabet = models.TextField(blank=True, help_text="Allowed characters when the policy is 'fixed'.")
    # Derives a page's group (document / writer) from its file name when the upload gives none.
    # A regular expression matched against the file stem; its first group (or the group named
    # 'group') is the page group. Empty: each page is its own group.
    group_pattern = models.CharField(max_length=200, blank=True, default=r"^(?P<group>.+)-\d+$")
    val_percent = models.PositiveSmallIntegerField(default=10, validators=[MaxValueValidator(100)])
    test_percent = models.PositiveSmallIntegerField(default=10, validators=[MaxValueValidator(100)])
    retrain_auto = models.BooleanField(default=False)
    retrain_new_lines = models.PositiveIntegerField(default=200)
    # The detector's own threshold: pages people checked (all or some of their lines) since the
    # promoted detector's data. Pages, not lines: a detector learns a page's layout.
    retrain_new_pages = models.PositiveIntegerField(default=10)
    # A new model replaces the promoted one only if it is better on the same validation data by this
    # much: absolute CER for recognizers, absolute F1 for detectors.
    promotion_margin = models.FloatField(default=0.005)
    strategy = models.CharField(max_length=30, choices=Strategy.choices, default=Strategy.RANDOM)
    # A new project's registry starts with the shipped base models (ml/base_models) as its
    # promoted versions, so pages are pre-annotated before anyone trains. Read at creation only.
    use_base_models = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=models.Q(val_percent__lte=100 - models.F("test_percent")),
                                              name="split_percentages_at_most_100")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.val_percent + self.test_percent > 100:
            raise ValidationError({"val_percent": f"val_percent + test_percent is "
                                                  f"{self.val_percent + self.test_percent}; at most 100."})
        if self.group_pattern:
            try:
                re.compile(self.group_pattern)
            except re.error as error:
                raise ValidationError({"group_pattern": f"Not a valid regular expression: {error}."}) from None


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"


class InviteeKind(models.TextChoices):
    USERNAME = "username", "Username"
    EMAIL = "email", "Email"


class Invitation(models.Model):
    """A manager's request that the user with this username or email join the project with this role.

    Recorded alike whether or not such a user exists, and fulfilled when that user next logs in
    (webapp.projects.services.invitations_accept), so an inviter never learns who has an account.
    Holds only what the inviter typed; the accepting user is linked once they have joined.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    kind = models.CharField(max_length=10, choices=InviteeKind.choices)
    # A username exactly as typed (usernames are case-sensitive); an email in lower case.
    invitee = models.CharField(max_length=254)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ANNOTATOR)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "kind", "invitee"],
                                               condition=models.Q(accepted_at__isnull=True),
                                               name="one_open_invitation_per_invitee")]
        indexes = [models.Index(fields=["kind", "invitee"], condition=models.Q(accepted_at__isnull=True),
                                name="open_invitations_by_invitee")]

    def __str__(self) -> str:
        return f"{self.kind} {self.invitee} to {self.project} as {self.role}"

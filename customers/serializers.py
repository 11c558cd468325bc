"""What the customers API shows and takes."""

from rest_framework import serializers

from customers.models import PointsEntry


class PointsEntryOutputSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None)

    class Meta:
        model = PointsEntry
        fields = [
            "id",
            "kind",
            "points",
            "held",
            "pending",
            "source",
            "demand",
            "rate",
            "multiplier",
            "value",
            "reason",
            "actor",
            "created_at",
        ]


class PointsAdjustInputSerializer(serializers.Serializer):
    points = serializers.IntegerField(
        min_value=-10_000_000, max_value=10_000_000, help_text="Added (or, negative, taken)."
    )
    reason = serializers.CharField(max_length=255)

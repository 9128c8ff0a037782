"""Billing records. Invoices, credit notes and payments arrive with the rest of issue 4;
this module starts with the numbering every issued document needs."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from privacy.registry import no_personal_data


@no_personal_data("Counters and formats of document numbers.")
class NumberSeries(models.Model):
    """A gap-free counter for one series of documents (invoices, credit notes).

    VAT Regulations 1995 reg 14(1)(b): a unique sequential number. ``billing.numbering``
    takes numbers under a row lock inside the issuing transaction, so a rolled-back issue
    gives its number back and two concurrent issues never share one.
    """

    code = models.SlugField(max_length=20, unique=True, help_text="e.g. INV or CN")
    format = models.CharField(
        max_length=100,
        default="{code}-{year}-{number:06d}",
        help_text="Python format with {code}, {year} and {number}, e.g. INV-{year}-{number:06d}.",
    )
    next_number = models.PositiveBigIntegerField(default=1)

    class Meta:
        verbose_name_plural = "number series"

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        try:
            self.format.format(code=self.code, year=2026, number=1)
        except (KeyError, ValueError, IndexError) as exc:
            raise ValidationError(
                {"format": f"Not a usable format: {exc}. Use {{code}}, {{year}}, {{number}}."}
            ) from None

"""The lawful-access register: demands from authorities, their verification and decision,
what was disclosed, keeping the customer informed unless the law forbids it, and the
public transparency report (docs/lawful-access.md)."""

"""The extension object reached through a star import (issue 16, pattern 3) and f-string constants from another module (pattern 5)."""

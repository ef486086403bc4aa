"""Mounted over the graded chapter's own ``dlcourse.given`` module inside the grading sandbox: that module
holds the chapter's solutions (its ``#@save`` functions), which its own graded answers must not import."""

raise ImportError("this module holds the solutions of the chapter being graded, so it is hidden while your "
                  "answers are graded: write the function yourself (later chapters may import it)")

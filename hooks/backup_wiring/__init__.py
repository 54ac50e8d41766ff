"""What the post-generation hook does to a project, in small modules with one job each.

The hooks are rendered by cookiecutter and run as scripts; this package is plain Python
(no Jinja), imported by them from the template's ``hooks`` folder, so the tests import
and exercise it directly. Standard library plus PyYAML (a cookiecutter dependency) only.
"""

"""A SQL-backed search engine for argilla-server, registered through its own registry.

argilla-server keeps every record, response, suggestion and vector in its SQL
database; this engine answers searches straight from those tables, so an
embedded server needs no Elasticsearch. Importing `dsforge_sqlsearch.engine`
registers the engine as "dsforge-sql"; run the server with
`python -m dsforge_sqlsearch serve` so the registration happens in-process.

This package is imported by the argilla-server interpreter, not by dsforge's
own environment (apart from the dependency-free `textquery` module).
"""

ENGINE_NAME = "dsforge-sql"

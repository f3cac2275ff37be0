module github.com/jackfruit-data/jackfruit/ingest-go

go 1.23

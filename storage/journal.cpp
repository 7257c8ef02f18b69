// journal placeholder

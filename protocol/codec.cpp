// codec placeholder

"""The file room: what may be attached (`checks`), where files are kept (`storage`), and image
thumbnails (`thumbnails`). It knows nothing of tickets; the ticket side decides who may attach,
read or delete a file."""

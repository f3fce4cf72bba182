"""No page of the site takes an uploaded file, except the CSV of distinct_ids, which installs its
own handler (privacy_requests.web.csv_upload). Django's default handlers keep up to 2.5 MB of each
file part in memory (100 parts a request) and write larger ones to disk, and the CSRF middleware
parses a multipart body, files included, before any view or sign-in check runs: a signed-out
post could make a worker hold a quarter of a gigabyte. This handler, the only one in
FILE_UPLOAD_HANDLERS, keeps nothing of a file part: the parser reads it in chunks and drops them,
and the file never appears in request.FILES.
"""

from django.core.files.uploadhandler import FileUploadHandler


class DiscardFileUploadHandler(FileUploadHandler):
    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        return None  # nothing kept, and no later handler gets the chunk

    def file_complete(self, file_size: int) -> None:
        return None  # no file object: the part is absent from request.FILES

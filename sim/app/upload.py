"""A one-button YAML upload: a real ``<input type=file>`` (keyboard, tests), not a drop zone.

A file over the page's upload limit is not read by the browser at all (its text arrives as None);
the server checks the size again, since a client can send anything.
"""

from __future__ import annotations

from collections.abc import Callable

import ipyvuetify as v
import solara
import traitlets

from sim.app.limits import LIMITS

MAX_BYTES = LIMITS.max_upload_bytes


class UploadWidget(v.VuetifyTemplate):
    """Reads the chosen file as text in the browser and hands it to Python."""

    template = traitlets.Unicode("""
<template>
  <span class="spc-upload">
    <input ref="file" type="file" accept=".yaml,.yml,text/yaml" style="display:none"
           data-testid="yaml-input" @change="read" />
    <v-btn outlined color="primary" @click="$refs.file.click()">
      <v-icon left>mdi-file-upload-outline</v-icon>{{ label }}
    </v-btn>
  </span>
</template>
<script>
module.exports = {
  methods: {
    async read(event) {
      const file = event.target.files[0];
      if (!file) return;
      if (file.size > """ + str(MAX_BYTES) + """) {
        this.uploaded({name: file.name, text: null});
      } else {
        this.uploaded({name: file.name, text: await file.text()});
      }
      event.target.value = "";
    },
  },
};
</script>
""").tag(sync=True)
    label = traitlets.Unicode("Load scenario YAML").tag(sync=True)
    on_upload = traitlets.Callable(None, allow_none=True)

    def vue_uploaded(self, data: dict) -> None:
        """Called from the browser with ``{name, text}`` (text None when the file is too big)."""
        if self.on_upload is not None:
            self.on_upload(str(data.get("name", "file")), data.get("text"))


@solara.component
def YamlUpload(on_upload: Callable[[str, str | None], None], label: str = "Load scenario YAML"):
    """Button that loads a text file and calls ``on_upload(name, text)``."""
    return UploadWidget.element(on_upload=on_upload, label=label)

"""The labeling interface every inkloop project gets in Label Studio.

One line is two results sharing a region id: a `rectanglelabels` (or `polygonlabels`)
box and a `textarea` transcription, which Label Studio ties to the region (perRegion).
"""

IMAGE = "image"
BOX = "bbox"
POLYGON = "poly"
TRANSCRIPTION = "transcription"
LABEL = "Line"

LABEL_CONFIG = f"""<View>
  <Image name="{IMAGE}" value="${IMAGE}" zoom="true" zoomControl="true" rotateControl="false"/>
  <RectangleLabels name="{BOX}" toName="{IMAGE}" strokeWidth="2">
    <Label value="{LABEL}" background="#2f80ed"/>
  </RectangleLabels>
  <PolygonLabels name="{POLYGON}" toName="{IMAGE}" strokeWidth="2">
    <Label value="{LABEL}" background="#27ae60"/>
  </PolygonLabels>
  <TextArea name="{TRANSCRIPTION}" toName="{IMAGE}" editable="true" perRegion="true" required="true"
            maxSubmissions="1" rows="1" placeholder="Transcription"/>
</View>"""
